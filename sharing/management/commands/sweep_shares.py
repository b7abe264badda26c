from django.core.management.base import BaseCommand

from sharing.shares.sweep import stuck_shares, sweep_stuck_shares


class Command(BaseCommand):
    help = "Re-dispatch shares stuck in queued or processing (Celery beat runs this every minute)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List the stuck shares without dispatching them.")

    def handle(self, *args, dry_run, **options):
        if dry_run:
            ids = list(stuck_shares().values_list("pk", flat=True))
        else:
            ids = sweep_stuck_shares()
        verb = "stuck" if dry_run else "re-dispatched"
        self.stdout.write(f"{len(ids)} share(s) {verb}" + (f": {', '.join(map(str, ids))}" if ids else ""))
