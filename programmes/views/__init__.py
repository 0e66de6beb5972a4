"""Pages of programmes, by who uses them: ``student`` (catalogue, joining, the map), ``staff``
(building, versions, people, cohorts), ``outcomes`` (learning outcomes and mastery)."""
