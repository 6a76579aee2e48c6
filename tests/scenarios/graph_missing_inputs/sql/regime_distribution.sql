SELECT 'zl_training_1m' AS table_name, regime, COUNT(*) AS row_count
FROM training.zl_training_1m GROUP BY regime
UNION ALL
SELECT 'zl_training_3m' AS table_name, regime, COUNT(*) AS row_count
FROM training.zl_training_3m GROUP BY regime
