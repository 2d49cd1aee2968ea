"""Places by name, offline: GeoNames' towns of 1,000 people and more (module ``geocoding``)."""
