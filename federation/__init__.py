"""Federation: cross-company hash sharing against non-consensual intimate images."""
