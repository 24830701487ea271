"""Pages a person uses: what Ringback heard and what it texted."""
from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import select

from ..models import Call, Message, SubAccount
from . import rt

bp = Blueprint("pages", __name__)


@bp.get("/")
def home():
    runtime = rt()
    with runtime.sessions() as s:
        subs = s.scalars(select(SubAccount).order_by(SubAccount.id)).all()
        calls = s.scalars(select(Call).order_by(Call.id.desc()).limit(25)).all()
        messages = s.scalars(select(Message).order_by(Message.id.desc()).limit(25)).all()
    return render_template("home.html", subs=subs, calls=calls, messages=messages,
                           sender=runtime.sender.name, config=runtime.config)
