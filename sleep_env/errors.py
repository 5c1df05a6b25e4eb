"""The one error hierarchy of the env core.

Every error the env raises on API misuse is a :class:`SleepEnvError`. Model output is data, never
an error: malformed answers score 0.0 and denied sleep requests are counted, not raised.
"""

from __future__ import annotations

__all__ = [
    "SleepEnvError",
    "ResetNeeded",
    "StreamExhausted",
    "InvalidAction",
    "SleepNotAllowed",
    "DependencyNotInstalled",
    "ConfigError",
]


class SleepEnvError(Exception):
    """Base class of every error raised by ``sleep_env``."""


class ResetNeeded(SleepEnvError):
    """``step()`` (or a probe call) was made before ``reset()`` or after the episode ended."""


class StreamExhausted(ResetNeeded):
    """``step()`` was called after the stream ended (``terminated=True``); call ``reset()``."""


class InvalidAction(SleepEnvError, ValueError):
    """An action (or a probe answer list) does not have the documented form.

    Actions are mappings with a text ``response`` and a ``sleep`` flag in {0, 1}; probe answers are a
    list of ``str``, one per probe. Also a ``ValueError``, so ``except ValueError`` catches it.
    """


class SleepNotAllowed(SleepEnvError):
    """A sleep was required where the protocol forbids it.

    The env itself never raises this for a sleep request (it counts denials in
    ``info["sleep_denied"]``); strict wrappers and agents may raise it.
    """


class DependencyNotInstalled(SleepEnvError, ImportError):
    """An optional dependency is missing; the message gives the ``pip install`` command."""


class ConfigError(SleepEnvError, ValueError):
    """A configuration value breaks a rule; the message names the field, the value and a fix."""
