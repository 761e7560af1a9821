"""The dashboard login: password hashes, the sign-in form guarding every page, and `hash-password`."""

from __future__ import annotations

import base64
import hashlib
import sys

import pytest
import typer
from typer.testing import CliRunner

from dashboards.auth import check_password_hash, hash_password, verify_password
from tests.dashboards.conftest import app_test, metric, no_errors, use_data_dir

PASSWORD = "correct horse battery staple"


def quick_hash(password: str = PASSWORD) -> str:
    return hash_password(password, n=2**10)  # the default cost is for production, not tests


# --- hashes ---------------------------------------------------------------------------------------------
def test_scrypt_hash_round_trip():
    stored = hash_password(PASSWORD)
    scheme, n, r, p, salt, key = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**15), "8", "1")
    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + " ", stored)
    assert not verify_password("", stored)
    assert hash_password(PASSWORD) != stored  # a fresh salt each time


def test_pbkdf2_hashes_are_accepted():
    salt = b"0123456789abcdef"
    key = hashlib.pbkdf2_hmac("sha256", b"s3cret", salt, 1000)
    b64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")  # noqa: E731
    stored = f"pbkdf2_sha256$1000${b64(salt)}${b64(key)}"
    assert verify_password("s3cret", stored) and not verify_password("secret", stored)


@pytest.mark.parametrize(
    "stored",
    ["", "plain-password", "scrypt$16384$8$1$c2FsdA", "scrypt$1000$8$1$c2FsdHNhbHQ$" + "A" * 43,
     "scrypt$99999999$8$1$c2FsdHNhbHQ$" + "A" * 43, "md5$abc$def", "pbkdf2_sha256$x$c2FsdA$" + "A" * 43],
)
def test_malformed_hashes_are_refused(stored):
    with pytest.raises(ValueError, match="malformed dashboard password hash"):
        check_password_hash(stored)
    with pytest.raises(ValueError):
        verify_password("anything", stored)


def test_comparison_is_constant_time(monkeypatch):
    import dashboards.auth as auth

    calls = []
    real = auth.hmac.compare_digest
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    verify_password("x", quick_hash())
    assert calls == [1]


# --- the sign-in form ------------------------------------------------------------------------------------
@pytest.fixture
def locked(dash, monkeypatch, tmp_path):
    """The filled warehouse, with a password hash configured."""
    use_data_dir(monkeypatch, dash.settings.data_dir, QC_DASHBOARD_PASSWORD_HASH=quick_hash())
    return dash


def sign_in(at, name: str, password: str):
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(password)
    return at.button(key="login_submit").click().run()


def test_every_page_needs_the_login(locked):
    at = app_test().run()
    no_errors(at)
    assert at.title[0].value.startswith("callqc")
    assert not at.metric and not at.dataframe  # nothing of the warehouse shows
    for page in ("calls", "call", "agent", "labels", "models"):
        at.switch_page(f"views/{page}.py")
        at.query_params["call_id"] = locked.html_call_id
        at.run()
        no_errors(at)
        assert [t.value for t in at.text_input] == ["", ""], page  # still the sign-in form
        assert not at.metric and not at.dataframe and not at.text, page


def test_wrong_password_is_refused_and_right_one_lets_in(locked):
    at = app_test().run()
    sign_in(at, "Maria", "wrong password")
    assert not at.exception
    assert [e.value for e in at.error] == ["Wrong password."]
    assert not at.metric
    sign_in(at, "Maria", PASSWORD)
    no_errors(at)
    assert at.session_state["qc_user"] == "Maria"
    assert metric(at, "Calls") == "9"
    assert any("Signed in as" in c.value and "Maria" in c.value for c in at.sidebar.caption)


def test_a_name_is_required(locked):
    at = app_test().run()
    sign_in(at, "  ", PASSWORD)
    assert [e.value for e in at.error] == ["Enter your name."]
    assert not at.metric


def test_labels_are_recorded_under_the_signed_in_name(locked):
    cid = locked.call_ids[6]
    at = app_test().run()
    sign_in(at, "Maria", PASSWORD)
    at.switch_page("views/labels.py")
    at.query_params["call_id"] = cid
    at.run()
    no_errors(at)
    assert "analyst_name" not in [t.key for t in at.text_input]  # the login name is used
    at.selectbox(key=f"labels-{cid[:16]}-label-agent_politeness").set_value("rude")
    at.button(key=f"labels-{cid[:16]}-save").click().run()
    no_errors(at)
    with locked.warehouse() as wh:
        history = wh.label_history(cid)
    assert history[["value", "who", "source"]].values.tolist() == [["rude", "Maria", "dashboard"]]


def test_sign_out(locked):
    at = app_test().run()
    sign_in(at, "Maria", PASSWORD)
    at.button(key="logout").click().run()
    assert "qc_user" not in at.session_state
    assert not at.metric


def test_a_malformed_hash_locks_everyone_out(dash, monkeypatch):
    use_data_dir(monkeypatch, dash.settings.data_dir, QC_DASHBOARD_PASSWORD_HASH="not-a-hash")
    at = app_test().run()
    assert not at.exception
    assert at.error and "misconfigured" in at.error[0].value
    assert not at.metric and not at.text_input


def test_the_hash_is_not_stored_with_pipeline_runs(monkeypatch):
    from qc.config import Settings

    settings = Settings(dashboard_password_hash=quick_hash())
    assert "dashboard_password_hash" not in settings.public_dict()


# --- `callqc dashboard hash-password` and the server command ----------------------------------------------
def test_hash_password_command():
    from flows.cli_dashboard import register

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # keep `dashboard` a sub-command, as under `callqc`
    result = CliRunner().invoke(app, ["dashboard", "hash-password", "--stdin"], input="pw from stdin\n")
    assert result.exit_code == 0, result.output
    stored = result.stdout.strip().splitlines()[0]
    assert verify_password("pw from stdin", stored)


def test_hash_password_module_asks_twice(monkeypatch, capsys):
    import dashboards.auth as auth

    answers = iter(["one", "two"])
    monkeypatch.setattr(auth.getpass, "getpass", lambda prompt="": next(answers))
    assert auth.main([]) == 1
    assert "differ" in capsys.readouterr().err


def test_streamlit_command_flags():
    from flows.cli_dashboard import APP, streamlit_command, streamlit_env

    argv = streamlit_command("127.0.0.1", 8599)
    assert argv[:5] == [sys.executable, "-m", "streamlit", "run", str(APP)] and APP.is_file()
    flags = dict(zip(argv[5::2], argv[6::2], strict=True))
    assert flags["--server.headless"] == "true" and flags["--browser.gatherUsageStats"] == "false"
    assert flags["--server.address"] == "127.0.0.1" and flags["--server.port"] == "8599"
    env = streamlit_env({"QC_DATA_DIR": "/x"})
    assert env == {"QC_DATA_DIR": "/x", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    # every flag is an option this Streamlit knows (a typo would stop the server at start)
    from streamlit import config

    known = config.get_config_options()
    assert all(flag[2:] in known for flag in flags), [f for f in flags if f[2:] not in known]
