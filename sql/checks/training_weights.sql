-- Migration-plan check (section 5.1, "Training tables fixed": weights 50-1000 from
-- regimes.regime_weights). Written from /work/shared/DESIGN.md. Expected:
-- out_of_range = 0 and not_from_weights = 0 (each row's weight is its regime's).
SELECT MIN(t.training_weight) AS min_weight,
       MAX(t.training_weight) AS max_weight,
       COUNTIF(t.training_weight < 50 OR t.training_weight > 1000 OR t.training_weight IS NULL) AS out_of_range,
       COUNTIF(w.training_weight IS NULL OR w.training_weight != t.training_weight) AS not_from_weights
FROM ${table} AS t
LEFT JOIN ${weights} AS w
  ON w.regime = t.regime
