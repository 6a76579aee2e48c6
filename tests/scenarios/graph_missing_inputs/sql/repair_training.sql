-- backfill from the archived backup, then label the 3-month table
MERGE training.zl_training_1m t
USING (SELECT date, regime, training_weight
       FROM archive_2025.models_backup_oct27__training_data_1m_backup) s
ON t.date = s.date
WHEN NOT MATCHED THEN INSERT (date, regime, training_weight) VALUES (s.date, s.regime, s.training_weight);
UPDATE training.zl_training_3m SET regime = 'x' WHERE FALSE;
