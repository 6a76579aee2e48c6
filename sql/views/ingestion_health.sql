/* monitoring.ingestion_health: loads per source and target table. Successes come from
   the load ledger (ops.load_ledger: staging files by content hash, migrations as
   bq:<table>, transform builds as transform:<name>); problems from the run records
   (ops.run_records: failed MergeLoad, RefuseLoad, MissingSource). health is ok unless
   the latest problem is newer than the latest success (failed, refused or missing). */
WITH
ledger AS (SELECT
    table_ref,
    source,
    COUNT(*) AS loads,
    MAX(loaded_at) AS last_success_at,
    ARRAY_AGG(`rows` ORDER BY loaded_at DESC LIMIT 1)[OFFSET(0)] AS last_rows,
    SUM(rows_inserted) AS rows_inserted,
    SUM(rows_updated) AS rows_updated
  FROM ops.load_ledger
  GROUP BY table_ref, source),

problems AS (SELECT
    target AS table_ref,
    SUBSTR(action_key, INSTR(action_key, '<-') + 2) AS source,
    CASE kind WHEN 'RefuseLoad' THEN 'refused' WHEN 'MissingSource' THEN 'missing' ELSE 'failed' END AS problem,
    finished_at,
    detail
  FROM ops.run_records
  WHERE (kind = 'MergeLoad' AND status = 'failed') OR kind IN ('RefuseLoad', 'MissingSource')),

problem_summary AS (SELECT
    table_ref,
    source,
    COUNTIF(problem = 'failed') AS failures,
    COUNTIF(problem = 'refused') AS refusals,
    COUNTIF(problem = 'missing') AS missing_runs,
    MAX(finished_at) AS last_problem_at,
    ARRAY_AGG(problem ORDER BY finished_at DESC LIMIT 1)[OFFSET(0)] AS last_problem,
    ARRAY_AGG(detail ORDER BY finished_at DESC LIMIT 1)[OFFSET(0)] AS last_problem_detail
  FROM problems
  GROUP BY table_ref, source)

SELECT
  COALESCE(l.table_ref, p.table_ref) AS table_ref,
  COALESCE(l.source, p.source) AS source,
  CASE
    WHEN STARTS_WITH(COALESCE(l.source, p.source), 'transform:') THEN 'transform'
    WHEN STARTS_WITH(COALESCE(l.source, p.source), 'bq:') THEN 'migration'
    ELSE 'file'
  END AS source_kind,
  COALESCE(l.loads, 0) AS loads,
  l.last_success_at,
  l.last_rows,
  COALESCE(l.rows_inserted, 0) AS rows_inserted,
  COALESCE(l.rows_updated, 0) AS rows_updated,
  COALESCE(p.failures, 0) AS failures,
  COALESCE(p.refusals, 0) AS refusals,
  COALESCE(p.missing_runs, 0) AS missing_runs,
  p.last_problem_at,
  p.last_problem_detail,
  CASE
    WHEN NOT p.last_problem_at IS NULL AND (l.last_success_at IS NULL OR p.last_problem_at > l.last_success_at) THEN p.last_problem
    ELSE 'ok'
  END AS health
FROM ledger AS l
FULL OUTER JOIN problem_summary AS p ON p.table_ref = l.table_ref AND p.source = l.source
