-- wijkprofiel DuckDB schema: the analyst contract (docs/duckdb.md).
-- Geometry is WKB in EPSG:28992 (RD New); read it with ST_GeomFromWKB(geometry).

CREATE TABLE sources (
    source_id      VARCHAR PRIMARY KEY,   -- e.g. 'rivm/50090NED@20220701T000000Z-2abc0a90f207'
    name           VARCHAR NOT NULL,      -- source: rivm, cbs_kwb, pdok, vektis, ...
    table_id       VARCHAR NOT NULL,      -- dataset: 50090NED, 85984NED, wijken_2024, ...
    title          VARCHAR,
    retrieved_from VARCHAR NOT NULL,      -- URL
    retrieved_at   TIMESTAMP,
    sha256         VARCHAR NOT NULL,      -- content hash of the raw snapshot
    rows           BIGINT,
    licence        VARCHAR NOT NULL,
    snapshot       VARCHAR NOT NULL       -- raw store path relative to the raw root
);

CREATE TABLE regions (
    region_code    VARCHAR NOT NULL,      -- unpadded: NL00/NL01, GM0599, WK059903, BU05990325
    name           VARCHAR,
    level          VARCHAR NOT NULL CHECK (level IN ('land', 'gemeente', 'wijk', 'buurt')),
    gemeentecode   VARCHAR,
    wijkcode       VARCHAR,
    indeling_year  INTEGER NOT NULL,
    geometry       BLOB,                  -- WKB, EPSG:28992; NULL when no geometry is known
    geometry_year  INTEGER,               -- edition of the wijk- en buurtkaart the geometry comes from
    water          BOOLEAN,
    PRIMARY KEY (region_code, indeling_year)
);

CREATE TABLE indicators (
    indicator_id   VARCHAR PRIMARY KEY,
    label_nl       VARCHAR NOT NULL,
    unit           VARCHAR NOT NULL,
    source         VARCHAR NOT NULL,
    theme          VARCHAR NOT NULL,
    polarity       VARCHAR NOT NULL CHECK (polarity IN ('higher_is_worse', 'higher_is_better', 'neutral')),
    comparable     BOOLEAN NOT NULL,
    source_key     VARCHAR,
    sort_order     INTEGER,
    theme_label    VARCHAR,             -- Dutch label of the theme (from the catalogue)
    theme_order    INTEGER              -- display order of the theme
);

CREATE TABLE observations (
    indicator_id     VARCHAR NOT NULL,
    region_code      VARCHAR NOT NULL,
    indeling_year    INTEGER NOT NULL,
    period           INTEGER NOT NULL,
    population_group VARCHAR NOT NULL,
    value            DOUBLE,              -- NULL where the source publishes '.' (never 0)
    ci_lower         DOUBLE,
    ci_upper         DOUBLE,
    numerator        DOUBLE,
    denominator      DOUBLE,
    suppressed       BOOLEAN NOT NULL,    -- disclosure control removed value/numerator/denominator
    source_id        VARCHAR NOT NULL,
    harmonised_from  VARCHAR,             -- source codes ('|'-joined) when moved from another indeling
    harmonisation_quality VARCHAR         -- 'exact' (one whole source) / 'approximate'; NULL when native
    -- unique on (indicator_id, region_code, indeling_year, period, population_group):
    -- enforced by validation before load (a PRIMARY KEY index costs ~10 s on 3.6 M rows)
);

CREATE TABLE comparisons (
    indicator_id     VARCHAR NOT NULL,
    region_code      VARCHAR NOT NULL,
    indeling_year    INTEGER NOT NULL,
    level            VARCHAR NOT NULL,
    period           INTEGER NOT NULL,
    population_group VARCHAR NOT NULL,
    value            DOUBLE,
    gemeente_value   DOUBLE,
    nl_value         DOUBLE,
    diff_gemeente    DOUBLE,
    diff_nl          DOUBLE,
    index_nl         DOUBLE,              -- 100 * value / nl_value
    z_gemeente       DOUBLE,              -- diff_gemeente / sd of same-level areas in the gemeente
    z_nl             DOUBLE,              -- diff_nl / sd of same-level areas in the Netherlands
    class_nl         VARCHAR NOT NULL,
    class_gemeente   VARCHAR NOT NULL,
    class_method     VARCHAR NOT NULL,    -- 'descriptive_z' (no uncertainty known), 'significance_95',
                                          -- 'significance_99.8', 'nested_z' or 'fdr_bh'
    p_gemeente       DOUBLE,              -- p-value of the gemeente test (NULL when not tested)
    p_nl             DOUBLE               -- p-value of the Netherlands test (NULL when not tested)
    -- one row per observation key (indicator_id, region_code, indeling_year, period, population_group)
);

CREATE TABLE trends (                -- change between two waves per region
    indicator_id VARCHAR NOT NULL, region_code VARCHAR NOT NULL, indeling_year INTEGER NOT NULL,
    level VARCHAR, population_group VARCHAR NOT NULL, from_period INTEGER NOT NULL, to_period INTEGER NOT NULL,
    from_value DOUBLE, to_value DOUBLE, change DOUBLE, change_lower DOUBLE, change_upper DOUBLE, z DOUBLE,
    class VARCHAR NOT NULL CHECK (class IN ('improved','similar','worsened','increased','decreased','not_compared')),
    class_method VARCHAR NOT NULL CHECK (class_method IN ('descriptive','significance_95'))
);

CREATE TABLE priorities (            -- per wijk the largest unfavourable deviations
    region_code VARCHAR NOT NULL, indeling_year INTEGER NOT NULL,
    comparator VARCHAR NOT NULL CHECK (comparator IN ('gemeente','nl')), rank INTEGER NOT NULL,
    indicator_id VARCHAR NOT NULL, theme VARCHAR, period INTEGER NOT NULL, population_group VARCHAR NOT NULL,
    value DOUBLE, comparator_value DOUBLE, diff DOUBLE, z DOUBLE, class VARCHAR NOT NULL, class_method VARCHAR NOT NULL,
    PRIMARY KEY (region_code, indeling_year, comparator, rank)
);

CREATE TABLE quarantine (            -- rows that failed row-level checks: never published
    indicator_id     VARCHAR NOT NULL,
    region_code      VARCHAR NOT NULL,
    indeling_year    INTEGER NOT NULL,
    period           INTEGER NOT NULL,
    population_group VARCHAR NOT NULL,
    value            DOUBLE,
    numerator        DOUBLE,
    denominator      DOUBLE,
    source_id        VARCHAR NOT NULL,
    check_name       VARCHAR NOT NULL,
    reason           VARCHAR NOT NULL
);

CREATE TABLE harmonisation_report (
    code           VARCHAR NOT NULL,
    level          VARCHAR NOT NULL,
    from_year      INTEGER NOT NULL,
    to_year        INTEGER NOT NULL,
    source         VARCHAR,
    reason         VARCHAR NOT NULL
);

CREATE TABLE validation_results (
    run_id         VARCHAR NOT NULL,
    source         VARCHAR NOT NULL,
    check_name     VARCHAR NOT NULL,
    severity       VARCHAR NOT NULL CHECK (severity IN ('error', 'warning')),
    passed         BOOLEAN NOT NULL,
    observed       VARCHAR,
    expected       VARCHAR,
    details        VARCHAR
);

CREATE TABLE source_status (         -- per run: was each source read from its latest snapshot?
    run_id         VARCHAR NOT NULL,
    source         VARCHAR NOT NULL,
    status         VARCHAR NOT NULL CHECK (status IN ('ok', 'stale', 'failed')),
    message        VARCHAR,              -- the error that made it stale/failed
    data_date      VARCHAR               -- retrieval date of the data in use
);

CREATE TABLE runs (
    run_id         VARCHAR PRIMARY KEY,
    parameters     VARCHAR NOT NULL,      -- JSON
    code_version   VARCHAR NOT NULL,
    started        TIMESTAMP NOT NULL,
    finished       TIMESTAMP,
    status         VARCHAR NOT NULL
);
