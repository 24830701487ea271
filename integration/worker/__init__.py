"""The worker: everything that runs after a webhook was stored, durably.

  consumer.py  the huey consumer, tuned for a text that leaves within milliseconds
  tasks.py     the huey tasks: thin, each calls one function below and queues what comes next
  events.py    applying a stored event: lock, complete from the CRM, dispatch, record
  handlers.py  calls, callers' texts, delivery reports, texts the CRM sent itself
  bookings.py  bookings and lost deals
  steps.py     the step machine: claim (leased), send once, record; steps that send nothing
  optouts.py   never text an opted-out number
  sweeper.py   what the periodic sweeper re-queues
  outcomes.py  what these functions answer (Outcome, Claim) and the retry limits

The pattern for every event: lock the inbox row, load state and settings, ask a pure function
in ``workflows`` what to do, and write the outcome in the same transaction: a text to send is a
step row, inserted already claimed (leased) by this worker with its message row, and sent by
``steps.deliver`` right after commit. Steps retried or due later are claimed by
``steps.claim_step``. Either way a worker killed at any point leaves rows the sweeper re-claims.

The queue itself (integration/queue.py) sits below the runtime, which configures it, so the
worker's imports of the runtime point down.
"""
