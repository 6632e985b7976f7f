"""Monitoring of the served model: live traffic from the audit log against training.

``jifen monitor`` reads the decisions recorded since a date, compares their inputs and
scores with the reference distributions stored in the model's bundle (PSI with traffic
lights) and, where outcomes have arrived, tests realised default rates per grade against
the predicted PDs. It writes an HTML report and exits with code 3 on a red alert.
"""
