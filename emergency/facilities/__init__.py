"""Key facilities (bridges, the port, the school, the shuttle bus, the Macau New
Neighbourhood): their status, set by rules or operators, and its history."""
