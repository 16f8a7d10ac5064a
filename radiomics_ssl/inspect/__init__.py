"""The QA report: what the encoder sees, per case and per cohort (`radiomics-ssl-inspect`)."""
