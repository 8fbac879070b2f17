"""nbgrader's own `collect` (the exchange's), made to refuse what a student planted.

`nbgrader collect` copies each student's newest folder from the exchange's `inbound/` (written
by the student's own unix user, who can change it at any time) into `submitted/`, with
`shutil.copytree`, as the instructor: it follows links, so a link to a file only the
instructor can read put that file in `submitted/`, and a named pipe hung the collect.

`SafeExchangeCollect` asks `planted` first, for each student, before nbgrader touches an
earlier copy: a folder holding a link, a special file or a hard link (or a student id with
markup) is refused for that student, with one line saying what was found, and the others are
collected; the command then ends with an error naming who was refused. The copy itself follows
nothing (`planted.copy_plain`), so a folder changed after the check is refused all the same.
nbgrader_config.py installs it (`c.ExchangeFactory.collect`).
"""

import os
import shutil

from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.utils import ignore_patterns

from .console import shown
from .planted import PlantedFile, copy_plain, folder_refusal, id_refusal


class SafeExchangeCollect(ExchangeCollect):
    """nbgrader's exchange collect; a student's folder with links or special files is refused."""

    def init_src(self):
        super().init_src()
        self.refused, kept = [], []
        for record in self.src_records:
            reason = id_refusal(record["username"], "inbound") or folder_refusal(
                os.path.join(self.inbound_path, record["filename"]), f"inbound/{record['filename']}")
            if reason:
                self.log.error(reason)
                self.refused.append(record["username"])
            else:
                kept.append(record)
        self.src_records = kept

    def do_copy(self, src, dest, log=None):
        """nbgrader's copy (size limit, ignore/include patterns, group sharing) following
        nothing; a folder that turns out to hold a link or special file is refused, its half
        made copy removed."""
        size = self.get_size(src)
        if size > 1000 * self.coursedir.max_dir_size:
            self.log.error("Directory size is too big")
            raise RuntimeError(f"Directory size is too big. Size is {size}, maximum size is "
                               f"{1000 * self.coursedir.max_dir_size}")
        try:
            copy_plain(src, dest, ignore_patterns(exclude=self.coursedir.ignore, include=self.coursedir.include,
                                                  max_file_size=self.coursedir.max_file_size, log=self.log))
        except PlantedFile as exc:
            shutil.rmtree(dest, ignore_errors=True)
            self.log.error(shown(f"{os.path.basename(src)}: {exc}: a submission with links or special files is "
                                 "refused, nothing in it is followed or copied", limit=600))
            self.refused.append(self._path_to_record(src)["username"])
            return
        if self.coursedir.groupshared:  # as nbgrader does: folders ug+rwx (setgid), files ug+rw
            for folder, _, names in os.walk(dest):
                for path, add, keep in [(folder, 0o2770, 0o2777), *((os.path.join(folder, n), 0o660, 0o777) for n in names)]:
                    try:
                        os.chmod(path, (os.stat(path).st_mode | add) & keep)
                    except PermissionError:
                        self.log.warning("Could not update permissions of %s to make it groupshared", path)

    def copy_files(self):
        super().copy_files()
        if self.refused:
            self.fail(shown("refused (links or special files in the folder; nothing of it copied): "
                            + ", ".join(sorted(set(self.refused))), limit=2000))
