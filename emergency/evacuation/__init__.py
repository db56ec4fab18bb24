"""Evacuation: orders per zone (advised or mandatory), people moved to shelters or other safe
places, shelters with capacity, occupancy and open/closed, the nearest open shelter with room."""
