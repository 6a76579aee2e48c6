-- Apply: the MERGE for a file whose columns are all keys: a matched row has nothing
-- to update, so only new keys are inserted.
MERGE ${target} AS T
USING ${source} AS S
ON ${on}
WHEN NOT MATCHED THEN
  INSERT (${columns}) VALUES (${values})
