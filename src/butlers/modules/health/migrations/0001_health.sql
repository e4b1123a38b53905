-- The health module's tables. Values are stored in one canonical unit per kind
-- (see modules/health/units.py); the status words mirror the StrEnums of models.py.
CREATE TABLE IF NOT EXISTS health_measurements (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,39}$'),
    value       double precision NOT NULL,          -- systolic for blood_pressure
    diastolic   double precision,                   -- blood_pressure only
    unit        text NOT NULL CHECK (length(unit) BETWEEN 1 AND 24),
    measured_at timestamptz NOT NULL,
    notes       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'blood_pressure') = (diastolic IS NOT NULL))
);
-- Every trend, list and summary reads one kind over a time range: an index-only
-- scan of (kind, measured_at) carrying the values serves them all.
CREATE INDEX IF NOT EXISTS health_measurements_kind_time
    ON health_measurements (kind, measured_at) INCLUDE (value, diastolic);
CREATE INDEX IF NOT EXISTS health_measurements_time ON health_measurements (measured_at);

CREATE TABLE IF NOT EXISTS health_medications (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    dose       double precision NOT NULL CHECK (dose > 0),
    unit       text NOT NULL CHECK (length(unit) BETWEEN 1 AND 24),
    frequency  text NOT NULL CHECK (frequency IN ('daily', 'weekly', 'as_needed')),
    times      text[] NOT NULL DEFAULT '{}',        -- 'HH:MM' in the module's time zone
    start_date date NOT NULL,
    stop_date  date,
    notes      text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (stop_date IS NULL OR stop_date >= start_date)
);

CREATE TABLE IF NOT EXISTS health_doses (
    id            bigserial PRIMARY KEY,
    medication_id bigint NOT NULL REFERENCES health_medications (id) ON DELETE CASCADE,
    status        text NOT NULL CHECK (status IN ('taken', 'skipped')),
    taken_at      timestamptz NOT NULL,
    notes         text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS health_doses_medication_time ON health_doses (medication_id, taken_at);

CREATE TABLE IF NOT EXISTS health_conditions (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    status     text NOT NULL CHECK (status IN ('active', 'managed', 'resolved')),
    since      date,
    notes      text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS health_symptoms (
    id           bigserial PRIMARY KEY,
    what         text NOT NULL CHECK (length(btrim(what)) BETWEEN 1 AND 200),
    severity     smallint NOT NULL CHECK (severity BETWEEN 1 AND 10),
    occurred_at  timestamptz NOT NULL,
    notes        text NOT NULL DEFAULT '',
    condition_id bigint REFERENCES health_conditions (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS health_symptoms_time ON health_symptoms (occurred_at);

CREATE TABLE IF NOT EXISTS health_meals (
    id          bigserial PRIMARY KEY,
    description text NOT NULL CHECK (length(btrim(description)) BETWEEN 1 AND 500),
    meal        text NOT NULL CHECK (meal IN ('breakfast', 'lunch', 'dinner', 'snack', 'other')),
    eaten_at    timestamptz NOT NULL,
    calories    double precision CHECK (calories >= 0),
    protein_g   double precision CHECK (protein_g >= 0),
    carbs_g     double precision CHECK (carbs_g >= 0),
    fat_g       double precision CHECK (fat_g >= 0),
    notes       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS health_meals_time ON health_meals (eaten_at);
