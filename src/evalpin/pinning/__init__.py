"""The pipeline's first stages: pin a delivery, and the verify stage that proves it every run."""
