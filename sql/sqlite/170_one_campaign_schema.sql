-- One campaign schema (issue 14): the settings the API stored as initial_dial_level / max_dial_level are now
-- pacing.vicidial.initial_level / maximum_level (the keys scenario and run files use). The drop limit and the
-- predictive target the old settings derived from abandon_cap are written out, so a stored campaign paces as before.
UPDATE campaigns SET config = json_set(
    json_remove(config, '$.initial_dial_level', '$.max_dial_level'),
    '$.pacing', json_object(
        'vicidial', json_object(
            'initial_level', COALESCE(json_extract(config, '$.initial_dial_level'), 1.0),
            'maximum_level', COALESCE(json_extract(config, '$.max_dial_level'), 3.0),
            'dropped_percentage', COALESCE(json_extract(config, '$.abandon_cap'), 0.03) * 100,
            'intensity', 0, 'dl_diff_target', 0),
        'predictive', json_object(
            'target_abandon_rate', COALESCE(json_extract(config, '$.abandon_cap'), 0.03) * 2.0 / 3,
            'gain', 0.25, 'max_credit', 6, 'interval_seconds', 0.25)),
    -- the API's old default pacer, for a row that never wrote one
    '$.pacer', COALESCE(json_extract(config, '$.pacer'), 'vicidial-tapered'))
WHERE json_extract(config, '$.pacing') IS NULL;
