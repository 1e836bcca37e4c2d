"""History of registered models, read back from the audit log: what stages and aliases looked like at a past
moment (`timetravel`), and everything known about one version (`provenance`). Both build on the audit EVENTS, not
on current rows, so they outlive deleted versions and renamed models and interpret new event kinds as they come."""
