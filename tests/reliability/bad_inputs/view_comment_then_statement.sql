SELECT station FROM `raw.weather` -- ; harmless?
; DROP TABLE `raw.weather`
