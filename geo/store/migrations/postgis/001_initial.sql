-- Engage Hotspots, PostGIS store, migration 001: the five tables and runs.
--
-- Written out by hand from geo/schemas.py as it stood for this version, so a
-- change to the Python specs never silently changes a database: a new column
-- needs a new migration, and tests/geo/store/test_postgis.py fails until it has
-- one. @schema@ is replaced by the quoted store schema before this runs.
--
-- Conventions: H3 cells (resolution 12) and content hashes are BIGINT; times
-- are TIMESTAMPTZ (UTC); keys sort in byte order (COLLATE "C") so key order is
-- the same in Python, GeoPackage and here; every point has a geometry(Point,
-- 4326) column built from its lat/lng on write.

CREATE TABLE @schema@.episodes (
    episode_id            text COLLATE "C" NOT NULL,
    child_ref             text NOT NULL,
    reported_at           timestamptz,
    last_seen_at          timestamptz NOT NULL,
    last_seen_lat         double precision NOT NULL,
    last_seen_lng         double precision NOT NULL,
    last_seen_h3          bigint NOT NULL,
    last_seen_district    text,
    last_seen_ward        text,
    last_seen_lsoa        text,
    last_seen_place_type  text NOT NULL,
    found_at              timestamptz,
    found_lat             double precision,
    found_lng             double precision,
    found_h3              bigint,
    found_district        text,
    found_ward            text,
    found_lsoa            text,
    found_place_type      text,
    in_care               boolean,
    risk_level            text,
    source                text NOT NULL,
    content_hash          bigint NOT NULL,
    ingested_at           timestamptz NOT NULL DEFAULT now(),
    last_seen_geom        geometry(Point, 4326),
    found_geom            geometry(Point, 4326),
    CONSTRAINT episodes_pkey PRIMARY KEY (episode_id)
);
CREATE INDEX episodes_last_seen_geom_idx ON @schema@.episodes USING gist (last_seen_geom);
CREATE INDEX episodes_found_geom_idx ON @schema@.episodes USING gist (found_geom);
CREATE INDEX episodes_last_seen_h3_idx ON @schema@.episodes (last_seen_h3);
CREATE INDEX episodes_found_h3_idx ON @schema@.episodes (found_h3);
CREATE INDEX episodes_last_seen_ward_idx ON @schema@.episodes (last_seen_ward);
CREATE INDEX episodes_found_ward_idx ON @schema@.episodes (found_ward);
CREATE INDEX episodes_last_seen_at_idx ON @schema@.episodes (last_seen_at);

CREATE TABLE @schema@.venues (
    venue_id      text COLLATE "C" NOT NULL,
    name          text,
    venue_type    text NOT NULL,
    lat           double precision NOT NULL,
    lng           double precision NOT NULL,
    h3            bigint NOT NULL,
    district      text,
    ward          text,
    lsoa          text,
    public        boolean,
    source        text NOT NULL,
    content_hash  bigint NOT NULL,
    ingested_at   timestamptz NOT NULL DEFAULT now(),
    geom          geometry(Point, 4326),
    CONSTRAINT venues_pkey PRIMARY KEY (venue_id)
);
CREATE INDEX venues_geom_idx ON @schema@.venues USING gist (geom);
CREATE INDEX venues_h3_idx ON @schema@.venues (h3);
CREATE INDEX venues_ward_idx ON @schema@.venues (ward);

CREATE TABLE @schema@.venue_reports (
    report_id                text COLLATE "C" NOT NULL,
    venue_id                 text NOT NULL,
    reported_at              timestamptz NOT NULL,
    source_evaluation        text NOT NULL,
    intelligence_assessment  text NOT NULL,
    handling_code            text NOT NULL,
    source                   text NOT NULL,
    content_hash             bigint NOT NULL,
    ingested_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT venue_reports_pkey PRIMARY KEY (report_id)
);
CREATE INDEX venue_reports_venue_id_idx ON @schema@.venue_reports (venue_id);
CREATE INDEX venue_reports_reported_at_idx ON @schema@.venue_reports (reported_at);

CREATE TABLE @schema@.disruptions (
    disruption_id  text COLLATE "C" NOT NULL,
    venue_id       text,
    disrupted_at   timestamptz NOT NULL,
    lat            double precision,
    lng            double precision,
    h3             bigint,
    district       text,
    ward           text,
    lsoa           text,
    tactic         text NOT NULL,
    note           text,
    public         boolean,
    source         text NOT NULL,
    content_hash   bigint NOT NULL,
    ingested_at    timestamptz NOT NULL DEFAULT now(),
    geom           geometry(Point, 4326),
    CONSTRAINT disruptions_pkey PRIMARY KEY (disruption_id)
);
CREATE INDEX disruptions_geom_idx ON @schema@.disruptions USING gist (geom);
CREATE INDEX disruptions_h3_idx ON @schema@.disruptions (h3);
CREATE INDEX disruptions_ward_idx ON @schema@.disruptions (ward);
CREATE INDEX disruptions_disrupted_at_idx ON @schema@.disruptions (disrupted_at);
CREATE INDEX disruptions_venue_id_idx ON @schema@.disruptions (venue_id);

CREATE TABLE @schema@.incidents (
    incident_id     text COLLATE "C" NOT NULL,
    category        text NOT NULL,
    occurred_at     timestamptz NOT NULL,
    time_precision  text NOT NULL,
    lat             double precision NOT NULL,
    lng             double precision NOT NULL,
    h3              bigint NOT NULL,
    district        text,
    ward            text,
    lsoa            text,
    source          text NOT NULL,
    content_hash    bigint NOT NULL,
    ingested_at     timestamptz NOT NULL DEFAULT now(),
    geom            geometry(Point, 4326),
    CONSTRAINT incidents_pkey PRIMARY KEY (incident_id)
);
CREATE INDEX incidents_geom_idx ON @schema@.incidents USING gist (geom);
CREATE INDEX incidents_h3_idx ON @schema@.incidents (h3);
CREATE INDEX incidents_ward_idx ON @schema@.incidents (ward);
CREATE INDEX incidents_occurred_at_idx ON @schema@.incidents (occurred_at);

CREATE TABLE @schema@.runs (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    params        jsonb NOT NULL,
    outputs       jsonb NOT NULL,
    code_version  text NOT NULL
);
