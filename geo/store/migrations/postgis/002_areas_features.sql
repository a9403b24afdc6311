-- Engage Hotspots, PostGIS store, migration 002: imported areas, gazetteer,
-- base layers and the store's settings.
--
-- Every point gains the codes of two more kinds of imported area
-- (neighbourhood, beat). engage_features holds the user's boundary polygons,
-- gazetteer places and base layers (geo/store/features.py), with a GIST index
-- on the geometry; engage_meta holds the study area the data were stored for.

ALTER TABLE @schema@.episodes
    ADD COLUMN last_seen_neighbourhood text,
    ADD COLUMN last_seen_beat text,
    ADD COLUMN found_neighbourhood text,
    ADD COLUMN found_beat text;
ALTER TABLE @schema@.venues ADD COLUMN neighbourhood text, ADD COLUMN beat text;
ALTER TABLE @schema@.disruptions ADD COLUMN neighbourhood text, ADD COLUMN beat text;
ALTER TABLE @schema@.incidents ADD COLUMN neighbourhood text, ADD COLUMN beat text;

CREATE TABLE @schema@.engage_features (
    family      text COLLATE "C" NOT NULL,
    kind        text COLLATE "C" NOT NULL,
    code        text COLLATE "C" NOT NULL,
    name        text,
    type        text,
    geom        geometry(Geometry, 4326) NOT NULL,
    min_lng     double precision NOT NULL,
    min_lat     double precision NOT NULL,
    max_lng     double precision NOT NULL,
    max_lat     double precision NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT engage_features_pkey PRIMARY KEY (family, kind, code)
);
CREATE INDEX engage_features_geom_idx ON @schema@.engage_features USING gist (geom);

CREATE TABLE @schema@.engage_meta (
    key    text PRIMARY KEY,
    value  text NOT NULL
);
