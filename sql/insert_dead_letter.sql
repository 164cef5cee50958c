-- Send what checks.sql refuses to dead-letter (tradeflow.contracts.DeadLetter), with the record's
-- fields as the job read them.
INSERT INTO dead_letter
SELECT 1, JSON_OBJECT('symbol' VALUE symbol, 'event_time' VALUE CAST(event_time AS STRING),
                      'open' VALUE `open`, 'high' VALUE high, 'low' VALUE low,
                      'close' VALUE `close`, 'volume' VALUE volume, 'source' VALUE source),
       refused, 'signal-job', 'stock-prices', CURRENT_TIMESTAMP
FROM checked_bars
WHERE refused IS NOT NULL
UNION ALL
SELECT 1, JSON_OBJECT('id' VALUE id, 'symbols' VALUE symbols, 'headline' VALUE headline,
                      'summary' VALUE summary, 'source' VALUE source,
                      'published_at' VALUE CAST(published_at AS STRING), 'url' VALUE url),
       refused, 'signal-job', 'market-news', CURRENT_TIMESTAMP
FROM checked_news
WHERE refused IS NOT NULL;
