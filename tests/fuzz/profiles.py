"""The fuzz suite's Hypothesis profiles: ``ci`` (the default) and ``long`` (by hand).

Choose with ``HYPOTHESIS_PROFILE=long pytest tests/fuzz`` or
``pytest tests/fuzz --hypothesis-profile long``. Neither has a deadline
(the machines are shared and noisy). ``ci`` is derandomized with no example database,
so every CI run tries the same examples, and a failing test shrinks the first failure it
finds (a red run stays short); ``long`` draws new examples each run, remembers failures in
``.hypothesis/`` and shrinks and reports each distinct failure. A test takes its profile
when it is defined (Hypothesis binds settings then), through :data:`FUZZ` or
:data:`FUZZ_MANY`."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

PROFILES = ("ci", "long")
# As the suite's noisy-machine profile (tests/conftest.py): shared, noisy machines. Big
# payloads (300,000-character strings, deep nesting) are the point, not a health problem.
_base = settings(deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
# CI leaves out the explain phase (which lines only failing examples ran): most of a red
# run's time, for a hint the long profile gives.
# Hypothesis's own "ci" profile (derandomized, no database, blobs printed) is replaced by
# this one, which is that and more: the root conftest loads "noisy-machine" for every other
# test, so only this folder's tests (through FUZZ) take it.
settings.register_profile("ci", parent=_base, max_examples=60, derandomize=True,
                          database=None, print_blob=True, report_multiple_bugs=False,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target,
                                  Phase.shrink])
settings.register_profile("long", parent=_base, max_examples=1_000, print_blob=True)


def chosen() -> str:
    """HYPOTHESIS_PROFILE, else the profile ``--hypothesis-profile`` loaded, else ``ci``."""
    for wanted in (os.environ.get("HYPOTHESIS_PROFILE"), settings.get_current_profile_name()):
        if wanted in PROFILES:
            return str(wanted)
    return "ci"


FUZZ = settings(parent=settings.get_profile(chosen()))
# Examples that only cross the HTTP face and Bolt (a few ms each, no Azure flow) get more.
FUZZ_MANY = settings(parent=FUZZ, max_examples=FUZZ.max_examples * 4)
