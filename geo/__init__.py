"""Read, check, index and store: CRS, H3, boundaries, schemas, ingest and stores.

``geo`` is the only package that knows about coordinate reference systems and
file formats. Everything it hands on is in WGS84 lat/lng with H3 cells at
resolution 12, or in metres on British National Grid.
"""

__version__ = "0.1.0"
