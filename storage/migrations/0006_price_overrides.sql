-- depends: 0005_partitioned_layout
-- Cost: price overrides per project (consulted before genai-prices' table), a version per
-- project that the writers bump so derivers reload the table only when it changed, why an LLM
-- step is unpriced and which price data priced it, and an index for runs by cost.

-- Prices an operator sets for custom and fine-tuned models, USD per million tokens.
CREATE TABLE price_overrides (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id             integer NOT NULL REFERENCES projects (id),
    model                  text NOT NULL,        -- an exact name, or a pattern with * ? [...]
    provider               text,                 -- null: any provider
    input_per_mtok         numeric NOT NULL CHECK (input_per_mtok >= 0),
    cached_input_per_mtok  numeric CHECK (cached_input_per_mtok >= 0),  -- null: input price
    cache_write_per_mtok   numeric CHECK (cache_write_per_mtok >= 0),   -- null: input price
    output_per_mtok        numeric NOT NULL CHECK (output_per_mtok >= 0),
    valid_from             timestamptz,          -- null: always
    created_at             timestamptz NOT NULL DEFAULT now()
);
-- One row per model (case-insensitive), provider and start: setting it again replaces it.
CREATE UNIQUE INDEX price_overrides_identity ON price_overrides (
    project_id, lower(model), coalesce(provider, ''), coalesce(valid_from, '-infinity')
);

-- Bumped in the transaction of every change of a project's overrides.
CREATE TABLE price_override_versions (
    project_id  integer PRIMARY KEY,
    version     bigint NOT NULL
);

ALTER TABLE steps ADD COLUMN unpriced_reason text;   -- unknown model, unknown provider, ...
ALTER TABLE steps ADD COLUMN price_version text;     -- genai-prices <version>, override <id>

-- GET /v1/runs?sort=cost: most expensive first, runs without a cost last (costs are never
-- negative), then newest first; a keyset over this order.
CREATE INDEX runs_project_cost
    ON runs (project_id, (coalesce(cost, -1)) DESC, start_ns DESC, trace_id DESC, span_id DESC);

-- Existing rows get their unpriced reasons, price versions and run price versions by a
-- re-derivation in the background (the deriver writes only the rows that change).
INSERT INTO dirty_traces (trace_id, project_id, from_ns, to_ns, background)
SELECT trace_id, project_id, spans_from_ns, spans_to_ns, true FROM traces;
