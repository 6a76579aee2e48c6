UPDATE training.zl_training_1m SET regime = 'x' WHERE FALSE
