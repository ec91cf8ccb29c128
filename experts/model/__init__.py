"""The expert pool and the panel draw: what the domain is.

Identifiers
    Expert, organisation, tender and request ids are short ASCII strings
    (``[A-Za-z0-9][A-Za-z0-9._:-]{0,63}``, e.g. a UUID). They sort by code point, which is
    also their UTF-8 byte order, so any language sorts them the same way.

Specialty codes (专业分类代码, 发改法规〔2018〕316号)
    A path of one to four levels. Level 1 is one capital letter (the category, 门类, e.g.
    ``A`` works, ``B`` goods, ``C`` services); levels 2, 3 and 4 are two decimal digits each.
    The canonical text is the compact national form: ``A``, ``A08``, ``A0803``, ``A080301``.
    The dotted form ``A.08.03.01`` is accepted on input and available as ``.dotted``.
    Because every level below the first has a fixed width, a code is an ancestor of another
    exactly when its compact text is a prefix of the other's; a request for a code matches
    the code itself and all its descendants.

Regions
    Region codes are opaque strings compared for equality (the service normalises them,
    e.g. to the six-digit administrative division code of the city).

Every record is a frozen dataclass; collections are tuples and frozensets. ``to_json``
gives the canonical JSON form (only strings, integers, lists, objects and null; never a
float) that the draw hashes; ``from_json`` reads it back.

Modules: ``ids`` (ids and identity card numbers), ``specialties``, ``pool`` (experts and the
indexed snapshot), ``request``, ``exclusions``, ``record`` (the draw record, its result, the
verification report). Import each record from its module.
"""
