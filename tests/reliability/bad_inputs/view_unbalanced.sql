SELECT (station FROM `raw.weather`
