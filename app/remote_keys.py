"""API keys of remote sources, kept in the operating system's keyring.

macOS Keychain, Windows Credential Locker, the Secret Service on Linux — whatever the
``keyring`` package finds. A key is stored under the service ``ponder`` and the user name
``remote:<source name>``; it is never written to Ponder's own files or logs. When no real
keyring is there (keyring's fail or null backend, a plain-text one with priority below 1, or
any error from the backend), :class:`KeyringUnavailableError` says so and suggests an
environment variable instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.errors import PonderError

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

SERVICE = "ponder"
NO_KEYRING = "no system keyring to keep the API key in: set an environment variable instead"


class KeyringUnavailableError(PonderError):
    """No usable system keyring (the message says what to do instead)."""


def _user(source_name: str) -> str:
    return f"remote:{source_name}"


def _backend() -> KeyringBackend:
    """The keyring backend in use, if it really keeps secrets.

    Raises:
        KeyringUnavailableError: none, or only one that would keep them in plain text.
    """
    try:
        import keyring
        from keyring.backends import fail, null

        backend = keyring.get_keyring()
        if isinstance(backend, fail.Keyring | null.Keyring) or backend.priority < 1:
            raise KeyringUnavailableError(NO_KEYRING)
    except KeyringUnavailableError:
        raise
    except Exception as err:  # keyring raises many kinds (D-Bus, locked, import)
        raise KeyringUnavailableError(f"{NO_KEYRING} ({type(err).__name__})") from None
    return backend


def keyring_available() -> bool:
    """Whether a key can be stored in the system keyring here."""
    try:
        _backend()
    except KeyringUnavailableError:
        return False
    return True


def store_key(source_name: str, api_key: str) -> None:
    """Keep ``api_key`` for the source in the keyring (replacing any earlier one).

    Raises:
        KeyringUnavailableError: no usable keyring, or it refused the key.
    """
    backend = _backend()
    try:
        backend.set_password(SERVICE, _user(source_name), api_key)
    except Exception as err:
        raise KeyringUnavailableError(
            f"the system keyring did not keep the key ({type(err).__name__}): "
            "set an environment variable instead"
        ) from None


def read_key(source_name: str) -> str | None:
    """The source's key from the keyring (None when none is stored).

    Raises:
        KeyringUnavailableError: the keyring cannot be read.
    """
    backend = _backend()
    try:
        return backend.get_password(SERVICE, _user(source_name)) or None
    except Exception as err:
        raise KeyringUnavailableError(
            f"cannot read the API key of {source_name!r} from the system keyring "
            f"({type(err).__name__})"
        ) from None


def delete_key(source_name: str) -> bool:
    """Forget the source's key; True when one was deleted (never raises)."""
    try:
        backend = _backend()
        if backend.get_password(SERVICE, _user(source_name)) is None:
            return False
        backend.delete_password(SERVICE, _user(source_name))
    except Exception:
        return False
    return True


#: Where the key of the window's "Serve API" (other devices on the network) is kept.
SERVE_USER = "serve:network"


def serve_api_key() -> tuple[str, bool]:
    """The key other devices must send to the window's API: ``(key, kept)``.

    The same key every time when the system keyring keeps it (``kept``); otherwise a fresh
    one for this run only. Never written to Ponder's files.
    """
    import secrets

    try:
        backend = _backend()
        key = backend.get_password(SERVICE, SERVE_USER)
        if not key:
            key = secrets.token_urlsafe(24)
            backend.set_password(SERVICE, SERVE_USER, key)
        return key, True
    except Exception:  # no keyring, or it refused: a key for this run
        return secrets.token_urlsafe(24), False


def new_serve_api_key() -> tuple[str, bool]:
    """Replace the network key (devices that knew the old one are refused from now on)."""
    try:
        backend = _backend()
        backend.delete_password(SERVICE, SERVE_USER)
    except Exception:
        pass  # none stored, or no keyring: serve_api_key() makes a new one either way
    return serve_api_key()
