SELECT date, regime FROM legacy_models.training_data_1m
