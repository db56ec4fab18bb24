"""The after-action report (`typhoon report`): figures from the database, rendered to
Markdown, HTML or PDF. Every figure comes from `emergency.report.data.build`."""
