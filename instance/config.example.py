# Site settings for this hall. Copy to instance/config.py; any key can also be set as
# an environment variable with the KIOSK_ prefix (KIOSK_TIMEZONE=Asia/Urumqi).

# Where citizens' phones reach this server; QR codes point here.
# PUBLIC_BASE_URL = "https://pj.qinghe.gov.cn"

# PostgreSQL, for several servers on one database:
# SQLALCHEMY_DATABASE_URI = "postgresql+psycopg://kiosk:secret@db.internal/kiosk"

# TIMEZONE = "Asia/Shanghai"
# LEAGUE_PRIOR = 10
# FOLLOWUP_SAMPLE_RATE = 0.05
# CONTACT_DUE_WORKDAYS = 1
# RESOLVE_DUE_WORKDAYS = 15
# PHONE_RETENTION_DAYS = 180
# KIOSK_IDLE_SECONDS = 30
