-- What was left out is gone: nothing to undo.
SELECT 1;
