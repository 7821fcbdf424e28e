"""evalpin: pin every part of an open-weights model delivery and reproduce its evaluation."""

# The one place the version lives (pyproject.toml reads it; requirements.txt pins it, tests check that).
# Semantic versioning: CHANGELOG.md; a release is `make dist` and a tag vX.Y.Z (docs/development.md).
__version__ = "0.2.0"
