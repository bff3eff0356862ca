-- How often the benefits catalog is used, per day: views of each benefit's info sheet
-- (kind 'view', subject the benefit's id) and estimates (kind 'estimate', subject the channel:
-- 'pages' or 'api'). Counts only: no person, no address, no answer is kept.
CREATE TABLE benefit_usage (
    day TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (day, kind, subject)
);
