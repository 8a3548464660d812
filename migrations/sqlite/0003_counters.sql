-- Counts kept with the writes (see src/store/counters.rs), so health never counts a million rows.
-- scope is '' for the whole store or an institution id; name is institutions, templates, assets,
-- ledger, audit or positions:<STATE>. The batching writer adds each batch's deltas.
CREATE TABLE counters (
    scope  TEXT NOT NULL,
    name   TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (scope, name)
) WITHOUT ROWID;

INSERT INTO counters (scope, name, n)
SELECT '', 'institutions', count(*) FROM institutions
UNION ALL SELECT id, 'institutions', 1 FROM institutions
UNION ALL SELECT '', 'templates', count(*) FROM asset_templates
UNION ALL SELECT institution_id, 'templates', count(*) FROM asset_templates GROUP BY institution_id
UNION ALL SELECT '', 'assets', count(*) FROM assets
UNION ALL SELECT institution_id, 'assets', count(*) FROM assets GROUP BY institution_id
UNION ALL SELECT '', 'positions:' || state, count(*) FROM positions GROUP BY state
UNION ALL SELECT institution_id, 'positions:' || state, count(*) FROM positions GROUP BY institution_id, state
UNION ALL SELECT '', 'ledger', count(*) FROM ledger_events
UNION ALL SELECT institution_id, 'ledger', count(*) FROM ledger_events GROUP BY institution_id
UNION ALL SELECT '', 'audit', count(*) FROM audit_events
UNION ALL SELECT s, 'audit', count(*) FROM (
    SELECT institution_id AS s FROM audit_events WHERE institution_id IS NOT NULL
    UNION ALL
    SELECT subject_institution_id FROM audit_events
    WHERE subject_institution_id IS NOT NULL
      AND (institution_id IS NULL OR subject_institution_id <> institution_id)
) AS scoped GROUP BY s;
