"""Our zones as GeoJSON for screens (the dashboard's map), read from config/zones/."""
