"""Planning: the closed union of typed actions (`actions`) and the pure planner
(`planner.plan(desired, snapshot, sources) -> Plan`): no client, no clock, no I/O.
"""
