-- The importer keeps the file's tags and priority apart from what the campaign's tag rules add:
-- rule_tags are the tags the rules gave (tags holds both, for routing), file_priority the priority the file
-- gave (NULL: none, priority is then the rules' default). Leads already stored keep the priority they have.
ALTER TABLE leads ADD COLUMN rule_tags TEXT NOT NULL DEFAULT '';
ALTER TABLE leads ADD COLUMN file_priority INTEGER;
UPDATE leads SET file_priority = priority;
