"""What every benchmark module returns: rows with a goal, a measured value and a verdict.

A row is a plain dict (it goes straight into the JSON results)::

    {'name': 'throughput 1 -> 1', 'unit': 'ev/s', 'value': 8104.0,
     'goal': {'text': '>= 1.2 x Socket.IO', 'target': 1.2, 'direction': '>=',
              'against': 'peer'},
     'peer': 9761.0, 'ratio': 0.83, 'met': False, 'details': {...}}

``goal.against`` says what ``ratio`` divides by: ``'peer'`` (the peer's value
measured in the same run), ``'baseline'`` (our own baseline in the same run,
e.g. a view without a publish), ``'absolute'`` (the target itself) or
``None`` (a figure with no target: ``met`` is None and the table says so).
"""

import statistics


def compare(direction, value, target):
    """True when ``value`` satisfies ``direction`` (``'>='`` or ``'<='``) against ``target``."""
    if value is None:
        return False
    return value >= target if direction == '>=' else value <= target


def _ratio(value, reference):
    if value is None or not reference:
        return None
    return value / reference


def vs_reference(name, value, reference, unit, target, direction, text, against='peer',
                 ok=True, details=None, label=None):
    """A row whose goal is a ratio to a reference measured in the same run.

    ``ok`` is an extra condition the verdict needs (e.g. nothing lost);
    ``label`` names the reference in the table (default: Socket.IO or baseline).
    """
    ratio = _ratio(value, reference)
    return {'name': name, 'value': value, 'unit': unit, 'reference': reference,
            'reference_label': label,
            'goal': {'text': text, 'target': target, 'direction': direction, 'against': against},
            'ratio': ratio, 'met': bool(ok and ratio is not None
                                        and compare(direction, ratio, target)),
            'details': details or {}}


def absolute(name, value, unit, target, direction, text, ok=True, details=None):
    """A row whose goal is a fixed number (``ratio`` is value / target)."""
    return {'name': name, 'value': value, 'unit': unit, 'reference': None,
            'goal': {'text': text, 'target': target, 'direction': direction,
                     'against': 'absolute'},
            'ratio': _ratio(value, target),
            'met': bool(ok and compare(direction, value, target)), 'details': details or {}}


def info(name, value, unit, reference=None, details=None, text='no target (reported)',
         label=None):
    """A row with no target: reported, ratio to ``reference`` (called ``label``) if any."""
    return {'name': name, 'value': value, 'unit': unit, 'reference': reference,
            'reference_label': label,
            'goal': {'text': text, 'target': None, 'direction': None, 'against': None},
            'ratio': _ratio(value, reference), 'met': None, 'details': details or {}}


def failed(name, error):
    """A row for a measurement that could not be made (the run goes on)."""
    return {'name': name, 'value': None, 'unit': '', 'reference': None,
            'goal': {'text': 'measurement failed', 'target': None, 'direction': None,
                     'against': None},
            'ratio': None, 'met': False, 'details': {'error': error}}


def percentile(values, fraction):
    """The ``fraction`` percentile (0..1) of ``values`` by nearest rank; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def median(values):
    """Median of ``values``; None if empty."""
    return statistics.median(values) if values else None
