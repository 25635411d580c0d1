; oxbox's built-in demo disk: what `oxbox` boots when no disk is given.
;
; One flat hard-disk image: the boot sector (loaded by the BIOS at 0:7C00,
; DL = 80h) reads the rest of the image to 0:7E00 with INT 13h AH=42h, sets
; VGA mode 13h with INT 10h AX=0013h and enters protected mode. The kernel
; then
;   - remaps the 8259As to vectors 20h-2Fh (8259A datasheet, ICW1-ICW4),
;   - runs the 8254's counter 0 at 100 Hz (mode 2, divisor 11932),
;   - turns paging on with one page directory and one page table that
;     identity-map the low 4 MiB; only the user code page, the two user
;     stacks and the VGA window A0000h-AFFFFh have U/S = 1 (Intel SDM vol. 3,
;     4.3 "32-bit paging", table 4-6), everything else is supervisor-only,
;   - runs two ring-3 tasks, switched in software by the timer interrupt:
;     the interrupt frame (SS, ESP, EFLAGS, CS, EIP pushed by the CPU on the
;     TSS's ESP0 stack, then PUSHAD) is saved for the running task and the
;     other task's frame is put in its place before IRETD,
;   - gives the tasks one system call, INT 30h (a DPL 3 trap gate): EAX = the
;     tick count (an interrupt gate with DPL 3),
;   - echoes keystrokes (scan code set 1 from port 60h, IRQ 1) on COM1 and
;     in white on the two-line console at the bottom of the screen (y 184-
;     199), drawn with the BIOS's 8x8 font (INT 10h AX=1130h BH=03h, copied
;     to FONT in real mode); Enter scrolls the console up a line,
;   - reports on COM1 (16550 at 3F8h) once a second.
; Task A draws in the left half of the screen above the console (a light
; red bar moving right on red, colours 12 and 4), task B in the right half
; (a light blue bar moving down on blue, colours 9 and 1): the first 16
; entries of the mode 13h DAC are the CGA colours.
;
; It ends by itself after 5 s of guest time unless a key was pressed
; ("oxbox demo: done"); Esc or Q ends it at once ("oxbox demo: bye"). Either
; way it halts with interrupts off, which ends an oxbox run with status 0.
;
; Build: nasm -f bin -o ../roms/demo.bin demo.asm

        bits 16
        org 0x7C00

LOAD_SEG_OFF    equ 0x7E00
USER_PAGE       equ 0x9000           ; where the user page lands (checked below)
SECTORS         equ (image_end - user_code + USER_PAGE - LOAD_SEG_OFF) / 512

KCODE           equ 0x08
KDATA           equ 0x10
UCODE           equ 0x18 | 3
UDATA           equ 0x20 | 3
TSS_SEL         equ 0x28

PAGE_DIR        equ 0x20000
PAGE_TABLE      equ 0x21000
KSTACK_TOP      equ 0x7C00           ; below the boot sector (page 7000h)
USTACK_A        equ 0x30000          ; one user page each
USTACK_B        equ 0x31000
VGA             equ 0xA0000
FONT            equ 0x22000          ; the BIOS's 8x8 font, characters 0-127
TASK_ROWS       equ 184              ; the tasks' part of the screen
ECHO_Y          equ 184              ; the console: two 8-line text rows

COM1            equ 0x3F8
HZ              equ 100
END_TICKS       equ 5 * HZ

; ---------------------------------------------------------------------------
; The boot sector (real mode).
boot:
        cli
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x7C00
        sti
        mov si, dap                 ; INT 13h AH=42h: extended read (EDD 3.0)
        mov ah, 0x42
        int 0x13
        jc .fail
        mov ax, 0x0013              ; VGA 320x200, 256 colours
        int 0x10
        mov ax, 0x1130              ; ES:BP = the 8x8 font
        mov bh, 3
        int 0x10
        push ds
        push es
        pop ds
        mov si, bp
        mov ax, FONT >> 4
        mov es, ax
        xor di, di
        mov cx, 128 * 8 / 2
        rep movsw
        pop ds
        cli
        lgdt [gdt_desc]
        mov eax, cr0
        or al, 1                    ; CR0.PE
        mov cr0, eax
        jmp KCODE:pm_start
.fail:
        mov si, msg_fail
.print:
        lodsb
        test al, al
        jz .stop
        mov ah, 0x0E
        xor bx, bx
        int 0x10
        jmp .print
.stop:
        cli
        hlt

msg_fail: db "oxbox demo: disk read failed", 0

dap:    db 16, 0
        dw SECTORS
        dw LOAD_SEG_OFF, 0
        dq 1

        align 8
gdt:    dq 0
        dq 0x00CF9A000000FFFF       ; 08h: ring-0 code, flat 4 GiB
        dq 0x00CF92000000FFFF       ; 10h: ring-0 data
        dq 0x00CFFA000000FFFF       ; 18h: ring-3 code
        dq 0x00CFF2000000FFFF       ; 20h: ring-3 data
gdt_tss:                            ; 28h: 32-bit TSS (type 9), filled in later
        dw tss_end - tss - 1, 0
        db 0, 0x89, 0, 0
gdt_end:
gdt_desc:
        dw gdt_end - gdt - 1
        dd gdt

        times 510 - ($ - $$) db 0
        dw 0xAA55

; ---------------------------------------------------------------------------
; The kernel (32-bit, ring 0).
        bits 32
pm_start:
        ; A known EFLAGS: above all NT = 0, or the first IRETD would be a
        ; task return through the TSS's back link (SDM vol. 3, 7.4).
        push dword 2
        popfd
        mov ax, KDATA
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, KSTACK_TOP
        call serial_init
        call pic_init
        call pit_init
        call idt_init
        call paging_init
        ; The TSS: only SS0:ESP0, where interrupts from ring 3 land.
        mov eax, tss
        mov [gdt_tss + 2], ax
        shr eax, 16
        mov [gdt_tss + 4], al
        mov [gdt_tss + 7], ah
        mov dword [tss + 4], KSTACK_TOP
        mov dword [tss + 8], KDATA
        mov ax, TSS_SEL
        ltr ax
        mov esi, msg_start
        call puts
        ; Enter task A: IRETD to ring 3 with task A's saved frame.
        mov dword [current], 0
        mov esi, frame_a
        mov edi, KSTACK_TOP - FRAME
        mov esp, edi
        mov ecx, FRAME / 4
        rep movsd
        jmp return_to_user

; COM1: 115200 8N1, FIFOs on, interrupts off (16550 datasheet, registers).
serial_init:
        mov dx, COM1 + 3
        mov al, 0x80                ; LCR.DLAB
        out dx, al
        mov dx, COM1
        mov al, 1                   ; divisor 1
        out dx, al
        inc dx
        xor al, al
        out dx, al
        mov dx, COM1 + 3
        mov al, 0x03                ; 8 data bits, no parity, 1 stop
        out dx, al
        mov dx, COM1 + 2
        mov al, 0x07                ; FCR: enable and clear the FIFOs
        out dx, al
        mov dx, COM1 + 1
        xor al, al                  ; IER: no interrupts
        out dx, al
        ret

; Send AL on COM1 once the transmit holding register is empty (LSR bit 5).
putc:
        push edx
        push eax
        mov dx, COM1 + 5
.wait:
        in al, dx
        test al, 0x20
        jz .wait
        pop eax
        mov dx, COM1
        out dx, al
        pop edx
        ret

; Send the NUL-terminated string at ESI.
puts:
        push eax
.next:
        lodsb
        test al, al
        jz .done
        call putc
        jmp .next
.done:
        pop eax
        ret

; Send EAX in decimal.
putdec:
        pushad
        mov ebx, 10
        xor ecx, ecx
.div:
        xor edx, edx
        div ebx
        push edx
        inc ecx
        test eax, eax
        jnz .div
.out:
        pop eax
        add al, '0'
        call putc
        loop .out
        popad
        ret

; Both 8259As: edge triggered, cascaded on IR2, vectors 20h and 28h, 8086
; mode; only IRQ 0 (timer), 1 (keyboard) and 2 (cascade) unmasked.
pic_init:
        mov al, 0x11
        out 0x20, al
        out 0xA0, al
        mov al, 0x20
        out 0x21, al
        mov al, 0x28
        out 0xA1, al
        mov al, 0x04
        out 0x21, al
        mov al, 0x02
        out 0xA1, al
        mov al, 0x01
        out 0x21, al
        out 0xA1, al
        mov al, 0xF8
        out 0x21, al
        mov al, 0xFF
        out 0xA1, al
        ret

; 8254 counter 0, mode 2 (rate generator), binary: 1193182 Hz / 11932.
pit_init:
        mov al, 0x34
        out 0x43, al
        mov ax, 1193182 / HZ
        out 0x40, al
        mov al, ah
        out 0x40, al
        ret

; The IDT: exceptions 0-31 to `fault`, 20h timer, 21h keyboard (interrupt
; gates, DPL 0) and 30h the system call (DPL 3). All are interrupt gates:
; with IF = 0 in ring 0, every interrupt frame the timer sees is a ring-3
; one (SDM vol. 3, 6.12.1.2: an interrupt gate clears IF).
idt_init:
        xor ecx, ecx
.fill:
        lea eax, [fault_stubs + ecx * 8]
        mov bx, 0x8E00
        call set_gate
        inc ecx
        cmp ecx, 32
        jb .fill
        mov ecx, 0x20
        mov eax, irq_timer
        call set_gate
        mov ecx, 0x21
        mov eax, irq_keyboard
        call set_gate
        mov ecx, 0x30
        mov eax, syscall
        mov bx, 0xEE00
        call set_gate
        lidt [idt_desc]
        ret

; Gate ECX: handler EAX, type and DPL BX (high word of the second dword).
set_gate:
        lea edi, [idt + ecx * 8]
        mov [edi], ax
        mov word [edi + 2], KCODE
        mov [edi + 4], bx
        shr eax, 16
        mov [edi + 6], ax
        ret

; One page table for 0-4 MiB, identity mapped, writable; user pages get
; U/S. The directory entry is user and writable so the table decides.
paging_init:
        mov edi, PAGE_DIR
        xor eax, eax
        mov ecx, 1024
        rep stosd
        mov dword [PAGE_DIR], PAGE_TABLE | 7
        mov edi, PAGE_TABLE
        mov eax, 3                  ; present, writable, supervisor
.map:
        stosd
        add eax, 0x1000
        cmp edi, PAGE_TABLE + 4096
        jb .map
        mov eax, user_code
        shr eax, 12
        or dword [PAGE_TABLE + eax * 4], 4
        or dword [PAGE_TABLE + (USTACK_A >> 12) * 4], 4
        or dword [PAGE_TABLE + (USTACK_B >> 12) * 4], 4
        mov edi, PAGE_TABLE + (VGA >> 12) * 4
.vga:
        or dword [edi], 4
        add edi, 4
        cmp edi, PAGE_TABLE + ((VGA + 0x10000) >> 12) * 4
        jb .vga
        mov eax, PAGE_DIR
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80010000          ; CR0.PG and CR0.WP
        mov cr0, eax
        jmp .flush                  ; (paging is identity, nothing moves)
.flush:
        ret

; A fault: report on COM1 its vector and the nine dwords above it on the
; stack (the error code if the vector has one, then EIP, CS, EFLAGS, ...),
; and stop. One stub per vector pushes the vector number.

fault_stubs:
%assign v 0
%rep 32
        push byte v                 ; 2 bytes
        jmp near fault              ; 5 bytes
        nop                         ; 8 bytes a stub
%assign v v + 1
%endrep
fault:
        mov ax, KDATA
        mov ds, ax
        mov esi, msg_fault
        call puts
        mov ecx, 10
.dump:
        pop eax
        call putdec
        mov al, ' '
        call putc
        loop .dump
        mov al, 13
        call putc
        mov al, 10
        call putc
        cli
        hlt

; The register frame of a task interrupted in ring 3: PUSHAD, then what the
; CPU pushed (EIP, CS, EFLAGS, ESP, SS), then DS and ES below PUSHAD.
FRAME   equ (2 + 8 + 5) * 4

; IRQ 0: count the tick and the slice, report once a second, end after
; END_TICKS unless a key was pressed, then switch to the other task.
irq_timer:
        pushad
        push ds
        push es
        mov ax, KDATA
        mov ds, ax
        mov es, ax
        mov al, 0x20                ; non-specific EOI
        out 0x20, al
        inc dword [ticks]
        mov ebx, [current]
        inc dword [slices + ebx * 4]
        mov eax, [ticks]
        xor edx, edx
        mov ecx, HZ
        div ecx
        test edx, edx
        jnz .no_report
        mov esi, msg_tick
        call puts
        mov eax, [ticks]
        call putdec
        mov esi, msg_task_a
        call puts
        mov eax, [slices]
        call putdec
        mov esi, msg_task_b
        call puts
        mov eax, [slices + 4]
        call putdec
        mov esi, msg_slices
        call puts
.no_report:
        cmp dword [ticks], END_TICKS
        jb .switch
        cmp byte [key_seen], 0
        jne .switch
        mov esi, msg_done
        call puts
        cli
        hlt
.switch:
        ; Save the running task's frame, load the other's.
        mov esi, esp
        mov edi, [frames + ebx * 4]
        mov ecx, FRAME / 4
        rep movsd
        xor ebx, 1
        mov [current], ebx
        mov esi, [frames + ebx * 4]
        mov edi, esp
        mov ecx, FRAME / 4
        rep movsd
return_to_user:
        pop es
        pop ds
        popad
        iretd

; IRQ 1: a make code from the 8042 (set 1, translated) becomes ASCII on
; COM1; Esc and Q end the demo.
irq_keyboard:
        pushad
        push ds
        push es
        mov ax, KDATA
        mov ds, ax
        mov es, ax
        in al, 0x60
        mov bl, al
        mov al, 0x20
        out 0x20, al
        test bl, 0x80               ; a break code
        jnz .done
        mov byte [key_seen], 1
        cmp bl, 0x01                ; Esc
        je .quit
        cmp bl, 0x10                ; Q
        je .quit
        cmp bl, 0x1C                ; Enter
        je .enter
        cmp bl, scancodes_end - scancodes
        jae .done
        movzx ebx, bl
        mov al, [scancodes + ebx]
        test al, al
        jz .done
        call putc
        call echo_char
        jmp .done
.enter:
        mov al, 13
        call putc
        mov al, 10
        call putc
        call echo_newline
.done:
        pop es
        pop ds
        popad
        iretd
.quit:
        mov esi, msg_bye
        call puts
        cli
        hlt

; Draw AL (white on black) at the console's cursor on its second line.
echo_char:
        pushad
        movzx esi, al
        and esi, 0x7F
        lea esi, [FONT + esi * 8]
        mov edi, [echo_col]
        lea edi, [VGA + (ECHO_Y + 8) * 320 + edi * 8]
        mov edx, 8
.line:
        mov ah, [esi]
        inc esi
        mov ecx, 8
.pixel:
        xor al, al
        shl ah, 1
        jnc .put
        mov al, 15
.put:
        stosb
        loop .pixel
        add edi, 320 - 8
        dec edx
        jnz .line
        inc dword [echo_col]
        cmp dword [echo_col], 320 / 8
        jb .done
        call echo_newline
.done:
        popad
        ret

; The console's second line moves up to the first; the second is cleared.
echo_newline:
        pushad
        mov esi, VGA + (ECHO_Y + 8) * 320
        mov edi, VGA + ECHO_Y * 320
        mov ecx, 8 * 320 / 4
        rep movsd
        xor eax, eax
        mov ecx, 8 * 320 / 4
        rep stosd
        mov dword [echo_col], 0
        popad
        ret

; INT 30h from ring 3: EAX = ticks since the start.
syscall:
        mov eax, [ss:ticks]
        iretd

; Scan code set 1 make codes 00h-39h: letters, digits and space.
scancodes:
        db 0, 0, "1234567890", 0, 0, 0, 0         ; 00-0F
        db "qwertyuiop", 0, 0, 0, 0, "as"         ; 10-1F
        db "dfghjkl", 0, 0, 0, 0, 0, "zxcv"       ; 20-2F
        db "bnm", 0, 0, 0, 0, 0, 0, " "           ; 30-39
scancodes_end:

msg_start:  db "oxbox demo: protected mode, paging on, 2 ring-3 tasks", 13, 10
            db "oxbox demo: type on the keyboard; Esc or Q quits", 13, 10, 0
msg_tick:   db "tick ", 0
msg_task_a: db ": task A ", 0
msg_task_b: db " slices, task B ", 0
msg_slices: db " slices", 13, 10, 0
msg_done:   db 13, 10, "oxbox demo: done", 13, 10, 0
msg_bye:    db 13, 10, "oxbox demo: bye", 13, 10, 0
msg_fault:  db 13, 10, "oxbox demo: unexpected exception ", 0

        align 4
ticks:      dd 0
current:    dd 0
slices:     dd 0, 0
frames:     dd frame_a, frame_b
key_seen:   db 0
        align 4
echo_col:   dd 0

        align 4
; Initial frames (ES, DS, PUSHAD's EDI..EAX, EIP, CS, EFLAGS, ESP, SS):
; each task starts at its entry with IF = 1 on its own user stack.
frame_a:    dd UDATA, UDATA, 0, 0, 0, 0, 0, 0, 0, 0
            dd task_a, UCODE, 0x202, USTACK_A + 0x1000, UDATA
frame_b:    dd UDATA, UDATA, 0, 0, 0, 0, 0, 0, 0, 0
            dd task_b, UCODE, 0x202, USTACK_B + 0x1000, UDATA

        align 8
idt:        times 0x31 dq 0
idt_end:
idt_desc:   dw idt_end - idt - 1
            dd idt

tss:        times 104 db 0
tss_end:

; ---------------------------------------------------------------------------
; The user page (ring 3): the two tasks. Each waits for the tick count to
; change (INT 30h) and redraws its half of the screen.
        times USER_PAGE - 0x7C00 - ($ - $$) db 0
user_code:

; Fill ECX bytes at EDI with AL.
%macro FILL 0
        rep stosb
%endmacro

; Task A: left half (x 0-159), a 16-pixel light red column moving right on
; red.
task_a:
        xor ebp, ebp                ; the last tick drawn
.wait:
        int 0x30
        cmp eax, ebp
        je .wait
        mov ebp, eax
        ; bar x = ticks mod 144
        xor edx, edx
        mov ecx, 144
        div ecx
        mov ebx, edx
        mov edi, VGA
        mov esi, TASK_ROWS
.row:
        mov al, 4
        mov ecx, ebx
        FILL
        mov al, 12
        mov ecx, 16
        FILL
        mov al, 4
        mov ecx, 160 - 16
        sub ecx, ebx
        FILL
        add edi, 160                ; skip the right half
        dec esi
        jnz .row
        jmp .wait

; Task B: right half (x 160-319), a 16-row light blue band moving down on
; blue.
task_b:
        xor ebp, ebp
.wait:
        int 0x30
        cmp eax, ebp
        je .wait
        mov ebp, eax
        ; band y = ticks mod (TASK_ROWS - 16)
        xor edx, edx
        mov ecx, TASK_ROWS - 16
        div ecx
        mov ebx, edx
        mov edi, VGA + 160
        xor esi, esi                ; y
.row:
        mov al, 1
        mov ecx, esi
        sub ecx, ebx                ; y - band: inside if 0..15
        cmp ecx, 16
        jae .fill
        mov al, 9
.fill:
        mov ecx, 160
        FILL
        add edi, 160
        inc esi
        cmp esi, TASK_ROWS
        jb .row
        jmp .wait

        align 512, db 0
image_end:
