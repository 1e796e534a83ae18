"""Facts that several parts of the product show, defined once and imported (no heavy imports here)."""

#: Version of the analysis JSON (``schemas/analysis.schema.json``): minor versions only add fields.
SCHEMA_VERSION = "1.2"
