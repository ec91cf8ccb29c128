-- A draw record is about 1 MB for a pool of 100,000 (the candidate ids); compressing it on
-- every insert costs more than it saves. Store it out of line, uncompressed.
ALTER TABLE expert_draws ALTER COLUMN record_json SET STORAGE EXTERNAL;
