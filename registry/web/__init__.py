"""Server-rendered pages for team members under `/t/<tenant>/`: dashboard, models, versions, experiments, runs,
personal tokens. Signed in with the session; every read goes through the selectors and every write through the
services, with the same gatekeepers as the APIs."""
