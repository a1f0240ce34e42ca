"""SIGHUP reloads the configuration whole: a change to relay.networks and domains.local
applies to new sessions; a broken file is reported with file:line and the running
configuration stays in force."""

import signal
import smtplib


def rcpt_code(tern, rcpt):
    with smtplib.SMTP(tern.host, tern.port, timeout=10) as s:
        s.ehlo("client.example")
        s.mail("a@example.org")
        code, _ = s.rcpt(rcpt)
        s.rset()
        return code



def test_sighup_applies_new_config_and_keeps_old_on_error(tern_factory):
    t = tern_factory(relay=["192.0.2.0/24"]).start()
    assert rcpt_code(t, "x@remote.example") == 554
    assert rcpt_code(t, "x@new.example") == 554

    original = t.config.read_text()
    t.config.write_text(original.replace('"192.0.2.0/24"', '"127.0.0.0/8"')
                        .replace('local = ["localhost", "example.test"]',
                                 'local = ["localhost", "example.test", "new.example"]'))
    t.proc.send_signal(signal.SIGHUP)
    t.wait_log("reloaded configuration")
    assert rcpt_code(t, "x@remote.example") == 250
    assert rcpt_code(t, "x@new.example") == 250

    t.config.write_text(original + "\n[limits]\nbogus = 1\n")
    t.proc.send_signal(signal.SIGHUP)
    t.wait_log("reload failed; keeping the running configuration")
    assert f"{t.config}:" in t.log() and "unknown setting 'limits.bogus'" in t.log()
    assert rcpt_code(t, "x@remote.example") == 250  # the previous reload still in force
    assert t.proc.poll() is None
