"""leadrank: nightly B2B lead sourcing, entity resolution and priority scoring.

Data flows one way: extractors → transform → scoring → warehouse. Stage modules are plain
Python over pandas DataFrames (see docs/contracts.md); only leadrank.flows knows Prefect.
"""

__version__ = "0.1.0"
