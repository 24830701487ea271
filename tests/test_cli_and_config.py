"""The `ringback` command and configuration from the environment."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from integration.cli import main
from integration.config import Config, ConfigError


def test_subaccount_add_works_on_a_brand_new_machine(cli, tmp_path):
    result = cli("subaccount", "add", "--name", "Acme Plumbing", "--phone", "+15125550100",
                 "--timezone", "America/Chicago", "--hours", "Mon-Fri 7:30-17:00; sat 08:00-12:00",
                 "--booking-url", "https://acme.example/book")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "1"
    assert (tmp_path / "var" / "ringback.db").exists()
    listing = cli("subaccount", "list").output
    assert "Acme Plumbing" in listing and "+15125550100" in listing
    assert "mon-fri 07:30-17:00; sat 08:00-12:00" in listing


@pytest.mark.parametrize("args, complaint", [
    (["--phone", "5125550100"], "write the number in E.164, e.g. +15125550100"),
    (["--phone", "+1512"], "not a valid phone number"),
    (["--timezone", "Central"], "unknown timezone 'Central'"),
    (["--hours", "weekdays 9-5"], "'weekdays' is not a day"),
    (["--booking-url", "acme.example/book"], "is not an http(s) URL"),
])
def test_subaccount_add_refuses_bad_input_naming_it(cli, args, complaint):
    base = {"--name": "Acme", "--phone": "+15125550100", "--timezone": "America/Chicago"}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    result = cli("subaccount", "add", *[x for kv in base.items() for x in kv])
    assert result.exit_code == 2
    assert complaint in result.output


def test_a_number_belongs_to_one_subaccount(cli):
    args = ["subaccount", "add", "--name", "Acme", "--phone", "+15125550100", "--timezone", "America/Chicago"]
    assert cli(*args).exit_code == 0
    again = cli(*args)
    assert again.exit_code == 1 and "+15125550100 already belongs to a sub-account" in again.output


def test_list_with_nothing_says_how_to_start(cli):
    assert "ringback subaccount add" in cli("subaccount", "list").output


def test_db_upgrade(cli, tmp_path):
    result = cli("db", "upgrade")
    assert result.exit_code == 0 and "up to date" in result.output
    assert cli("db", "upgrade").exit_code == 0  # idempotent


def test_help_names_every_command(cli):
    out = cli("--help").output
    for command in ("serve", "worker", "db", "subaccount", "simulate-call"):
        assert command in out


def test_simulate_call_says_when_nothing_listens(cli, monkeypatch):
    monkeypatch.setenv("RINGBACK_PUBLIC_URL", "http://127.0.0.1:9")
    result = cli("simulate-call", "--to", "+15125550100", "--from", "+15125550123")
    assert result.exit_code == 1 and "could not reach Ringback" in result.output


# ------------------------------------------------------------------ configuration

def test_defaults_are_embedded_and_safe_for_local_use(tmp_path):
    config = Config.from_env({"RINGBACK_DATA_DIR": str(tmp_path)})
    assert config.database_url == f"sqlite:///{tmp_path.resolve() / 'ringback.db'}"
    assert config.redis_url is None and config.sms_backend == "sandbox"
    assert config.queue_path == tmp_path.resolve() / "ringback-queue.db"


def test_production_names_every_missing_setting():
    with pytest.raises(ConfigError) as err:
        Config.from_env({"RINGBACK_ENV": "production", "DATABASE_URL": "postgresql://db/rb"})
    assert str(err.value) == ("missing required setting(s) for production: RINGBACK_SECRET_KEY, RINGBACK_PUBLIC_URL, "
                              "RINGBACK_ENCRYPTION_KEY")


def test_production_refuses_the_development_secret():
    env = {"RINGBACK_ENV": "production", "DATABASE_URL": "postgres://db/rb", "RINGBACK_PUBLIC_URL": "https://rb.example",
           "RINGBACK_SECRET_KEY": "ringback-local-development-secret",
           "RINGBACK_ENCRYPTION_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}
    with pytest.raises(ConfigError, match="development default"):
        Config.from_env(env)
    env["RINGBACK_SECRET_KEY"] = "s3cret"
    config = Config.from_env(env)
    assert config.database_url == "postgresql+psycopg://db/rb"  # Heroku's postgres:// spelling works


def test_half_twilio_credentials_are_an_error():
    with pytest.raises(ConfigError, match="both TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"):
        Config.from_env({"TWILIO_ACCOUNT_SID": "AC123"})


def test_production_start_up_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("RINGBACK_ENV", "production")
    for name in ("DATABASE_URL", "RINGBACK_SECRET_KEY", "RINGBACK_PUBLIC_URL", "RINGBACK_ENCRYPTION_KEY"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 1
    assert ("missing required setting(s) for production: RINGBACK_SECRET_KEY, RINGBACK_PUBLIC_URL, DATABASE_URL, "
            "RINGBACK_ENCRYPTION_KEY") in result.output


def test_subaccount_settings_change_what_callers_get(cli):
    assert cli("subaccount", "add", "--name", "Acme", "--phone", "+15125550100", "--timezone", "America/Chicago",
               "--hours", "24/7").exit_code == 0
    shown = cli("subaccount", "settings", "1").output
    assert "missed-call text back is ON" in shown and "Hi there, this is Acme." in shown
    result = cli("subaccount", "settings", "1", "--business-hours-text", "{business_name}: sorry, {first_name}!",
                 "--missed-under", "25", "--dedupe-hours", "12", "--block", "+15125550666", "--off")
    assert result.exit_code == 0, result.output
    assert "text back is OFF" in result.output and "under 25s" in result.output and "once per 12 h" in result.output
    assert "blocked: +15125550666" in result.output
    assert "Acme: sorry, there! Reply STOP to opt out." in result.output
    assert "blocked: nobody" in cli("subaccount", "settings", "1", "--unblock", "+15125550666").output


@pytest.mark.parametrize("args, complaint", [
    (["--business-hours-text", "Hi {name}"], "unknown merge field {name}"),
    (["--block", "12"], "not a valid phone number"),
])
def test_subaccount_settings_refuse_bad_values(cli, args, complaint):
    cli("subaccount", "add", "--name", "Acme", "--phone", "+15125550100", "--timezone", "America/Chicago")
    result = cli("subaccount", "settings", "1", *args)
    assert result.exit_code != 0 and complaint in result.output
    assert "no sub-account 7" in cli("subaccount", "settings", "7").output


def test_crm_sub_accounts_keep_their_token_encrypted(cli, tmp_path):
    result = cli("subaccount", "add", "--name", "Acme", "--phone", "+15125550100", "--timezone", "America/Chicago",
                 "--hubspot-portal", "62515", "--crm-token", "pat-na1-secret-value")
    assert result.exit_code == 0, result.output
    assert "hubspot 62515" in cli("subaccount", "list").output
    raw = (tmp_path / "var" / "ringback.db").read_bytes()
    assert b"pat-na1-secret-value" not in raw
    both = cli("subaccount", "add", "--name", "X", "--phone", "+15125550101", "--timezone", "America/Chicago",
               "--ghl-location", "L1", "--hubspot-portal", "2")
    assert both.exit_code == 2 and "one CRM" in both.output
    alone = cli("subaccount", "add", "--name", "X", "--phone", "+15125550101", "--timezone", "America/Chicago",
                "--crm-token", "t")
    assert alone.exit_code == 2 and "--crm-token needs" in alone.output


def test_salesforce_sub_account_gets_its_own_outbound_message_url(cli, monkeypatch):
    monkeypatch.setenv("RINGBACK_PUBLIC_URL", "https://rb.example.com")
    result = cli("subaccount", "add", "--name", "Acme", "--phone", "+15125550100", "--timezone", "America/Chicago",
                 "--salesforce-org", "00D5e000000Ab1cEAC", "--salesforce-instance", "https://acme.my.salesforce.com",
                 "--crm-token", "00D5e000000Ab1c!session")
    assert result.exit_code == 0, result.output
    assert "https://rb.example.com/webhooks/salesforce/" in result.output
    missing = cli("subaccount", "add", "--name", "B", "--phone", "+15125550101", "--timezone", "America/Chicago",
                  "--salesforce-org", "00D5e000000Zz9z")
    assert missing.exit_code == 2 and "needs --salesforce-instance and --crm-token" in missing.output


def test_production_processes_refuse_an_unmigrated_database_instead_of_migrating(tmp_path):
    from integration.runtime import Runtime
    env = {"RINGBACK_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}",
           "RINGBACK_PUBLIC_URL": "https://rb.example", "RINGBACK_SECRET_KEY": "s3cret",
           "RINGBACK_ENCRYPTION_KEY": "uGjLdp9cXrqkKjgXJ1Yw2xZ3c4V5b6N7m8Q9r0S1t2U=", "RINGBACK_DATA_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match="run `ringback db upgrade`"):
        Runtime(Config.from_env(env))
    result = CliRunner(env=env).invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    Runtime(Config.from_env(env)).close()  # now it starts


def test_dispositions_are_set_from_the_cli(cli):
    cli("subaccount", "add", "--name", "Acme", "--phone", "+15125550100", "--timezone", "America/Chicago")
    out = cli("subaccount", "settings", "1", "--missed-disposition", "Sin Respuesta", "--missed-disposition", "Buzon").output
    assert "CRM dispositions meaning missed: buzon, sin respuesta" in out
