"""Geography for the command post: zones, recipient targeting, target-area validation,
metric projections, shelters and CAP polygons.

A library: it receives what it needs as arguments and never imports ``emergency`` or
``alerts``. Modules: :mod:`geo.zones`, :mod:`geo.targeting`, :mod:`geo.areas`,
:mod:`geo.projection`, :mod:`geo.shelters`, :mod:`geo.cap`.
"""
