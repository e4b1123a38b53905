"""`[modules.email]`: presets, explicit hosts, and errors that name the key; missing credentials name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from butlers.butler import check_credentials
from butlers.config import ButlerConfig, load_butler_config
from butlers.errors import ConfigErrors, CredentialError
from butlers.modules.email import EmailConfig, EmailModule
from butlers.modules.email.config import Endpoint
from butlers.modules.loader import available_modules, load_modules


def butler(tmp_path: Path, table: str) -> ButlerConfig:
    (tmp_path / "butler.toml").write_text(f'[butler]\nname = "mail"\nport = 8199\n\n[modules.email]\n{table}\n')
    return load_butler_config(tmp_path, env={})


def errors(tmp_path: Path, table: str) -> list[str]:
    with pytest.raises(ConfigErrors) as exc:
        load_modules(butler(tmp_path, table))
    return [str(e) for e in exc.value.errors]


def test_the_entry_point_finds_the_module() -> None:
    assert available_modules()["email"] is EmailModule


@pytest.mark.parametrize(
    ("provider", "imap", "smtp"),
    [
        ("gmail", Endpoint("imap.gmail.com", 993, "tls"), Endpoint("smtp.gmail.com", 465, "tls")),
        ("fastmail", Endpoint("imap.fastmail.com", 993, "tls"), Endpoint("smtp.fastmail.com", 465, "tls")),
        ("outlook", Endpoint("outlook.office365.com", 993, "tls"), Endpoint("smtp.office365.com", 587, "starttls")),
        ("icloud", Endpoint("imap.mail.me.com", 993, "tls"), Endpoint("smtp.mail.me.com", 587, "starttls")),
    ],
)
def test_provider_presets(provider: str, imap: Endpoint, smtp: Endpoint) -> None:
    cfg = EmailConfig.model_validate({"provider": provider})
    assert (cfg.imap, cfg.smtp) == (imap, smtp)


def test_custom_hosts_and_security_pick_default_ports() -> None:
    cfg = EmailConfig.model_validate({"imap_host": "mail.example.org", "smtp_host": "mail.example.org"})
    assert cfg.imap == Endpoint("mail.example.org", 993, "tls")
    assert cfg.smtp == Endpoint("mail.example.org", 465, "tls")
    cfg = EmailConfig.model_validate(
        {"imap_host": "mail.example.org", "smtp_host": "smtp.example.org", "security": "starttls", "smtp_port": 2525}
    )
    assert cfg.imap == Endpoint("mail.example.org", 143, "starttls")
    assert cfg.smtp == Endpoint("smtp.example.org", 2525, "starttls")
    # A preset with an explicit host overrides only that host.
    assert EmailConfig.model_validate({"provider": "gmail", "imap_host": "127.0.0.1"}).imap.host == "127.0.0.1"


def test_plaintext_is_allowed_for_localhost_only() -> None:
    cfg = EmailConfig.model_validate({"imap_host": "127.0.0.1", "smtp_host": "localhost", "security": "none"})
    assert (cfg.imap.port, cfg.smtp.port) == (143, 25)
    with pytest.raises(ValidationError, match="smtp_host is not local"):
        EmailConfig.model_validate({"imap_host": "127.0.0.1", "smtp_host": "smtp.example.org", "security": "none"})


def test_a_good_table_loads(tmp_path: Path) -> None:
    (module,) = load_modules(butler(tmp_path, 'provider = "fastmail"\nrequire_approval = ["email_send"]'))
    assert isinstance(module, EmailModule)
    assert module.settings.require_approval == ["email_send"]


@pytest.mark.parametrize(
    ("table", "key", "text"),
    [
        ('provider = "hotmail"', "modules.email.provider", "gmail"),
        ('provider = "custom"\nsmtp_host = "smtp.example.org"', "modules.email", "imap_host required"),
        ('imap_host = "imap.example.org"', "modules.email", "smtp_host required"),
        ('provider = "gmail"\nimap_port = 70000', "modules.email.imap_port", "65535"),
        ('provider = "gmail"\nsmtp_port = 0', "modules.email.smtp_port", "greater than or equal to 1"),
        ('provider = "gmail"\nsecurity = "ssl"', "modules.email.security", "tls"),
        ('provider = "gmail"\nsecurity = "none"', "modules.email", "localhost"),
        ('provider = "gmail"\npoll_interval_s = 0', "modules.email.poll_interval_s", "greater than 0"),
        ('provider = "gmail"\nrequire_approval = ["email_delete"]', "modules.email", "email_delete"),
        ('provider = "gmail"\nimap_hots = "x"', "modules.email.imap_hots", "unknown key"),
    ],
)
def test_bad_config_names_the_file_and_key(tmp_path: Path, table: str, key: str, text: str) -> None:
    (message,) = errors(tmp_path, table)
    assert f"butler.toml: {key}: " in message
    assert text in message


def test_missing_credentials_name_the_variables(tmp_path: Path) -> None:
    config = butler(tmp_path, 'provider = "gmail"')
    modules = load_modules(config)
    with pytest.raises(CredentialError) as exc:
        check_credentials(config, modules, {"SOURCE_EMAIL": "me@example.org"})
    assert "butler 'mail'" in str(exc.value)
    assert "SOURCE_EMAIL_PASSWORD" in str(exc.value)
    with pytest.raises(CredentialError, match="SOURCE_EMAIL, SOURCE_EMAIL_PASSWORD"):
        check_credentials(config, modules, {})
    creds = check_credentials(config, modules, {"SOURCE_EMAIL": "me@example.org", "SOURCE_EMAIL_PASSWORD": "pw"})
    assert creds == {"SOURCE_EMAIL": "me@example.org", "SOURCE_EMAIL_PASSWORD": "pw"}
